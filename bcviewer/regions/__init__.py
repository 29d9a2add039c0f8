"""Regions of interest: polygons read from and written to QuPath's GeoJSON (and read from ASAP's XML), the tiles inside them,
and their measurements (areas in mm², tissue, scores). Qt-free, like the rest of the core."""

from bcviewer.regions.asap import RegionFrame, read_region_file, regions_from_asap_xml
from bcviewer.regions.measure import RegionStats, region_stats, stats_csv_text, tiles_inside, tissue_px
from bcviewer.regions.store import load_slide_regions, regions_file, save_slide_regions
from bcviewer.regions.shapes import (
    DEFAULT_CLASS,
    Region,
    RegionError,
    in_file,
    in_slide,
    read_regions,
    regions_from_geojson,
    regions_geojson,
    union_of,
    write_regions,
)

__all__ = [
    "DEFAULT_CLASS", "Region", "RegionError", "RegionStats", "in_file", "in_slide", "load_slide_regions", "read_regions", "region_stats",
    "regions_file", "regions_from_geojson", "regions_geojson", "save_slide_regions", "stats_csv_text", "tiles_inside", "tissue_px", "union_of",
    "write_regions", "RegionFrame", "read_region_file", "regions_from_asap_xml",
]
