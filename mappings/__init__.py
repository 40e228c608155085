"""Per tool: vendor record <-> canonical event/action, driven by ``config/mappings/<tool>.yaml``.

``mappings.base`` holds the contract the flows call (``mapping_for``, ``MappingContext``,
``MappingError``, ``tenant_for``, ``load_tables``); each tool has one module.
"""
