"""First-party sink plugins for textmon, registered through the ``monitor.sinks`` entry points.

Modules are namespaced ``textmon_*`` because ``plugins`` is a generic import name.
"""
