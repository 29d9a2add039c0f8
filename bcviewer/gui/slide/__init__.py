"""The slide viewer: tiled pyramid view, tile cache and loader, heatmap overlay, analysis dock."""
