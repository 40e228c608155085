"""The end-to-end demo: the five procedures played through the vendors' front doors."""
