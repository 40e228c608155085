"""One module per vendor. Each defines a ``Vendor`` subclass; ``VENDOR_CLASSES`` lists them."""
