"""One module per declared tool (``sandbox/vendors/<tool>.py``), each ending with
``VENDOR = <its Vendor subclass>``; ``sandbox.state`` finds them by the tools' names
(``kickoff.tools.plugin``). ``base`` is what they share; ``odata`` and ``soql`` are query
languages two of them speak."""
