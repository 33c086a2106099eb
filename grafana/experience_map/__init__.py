"""The experience map: phases across, touchpoints down, drawn from the warehouse (HTML, SVG, PNG)."""
