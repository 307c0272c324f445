"""vms_zoo: Keras 3 models for visual memory schemas (VMS).

VMS maps have two channels everywhere in this package: channel 0 is the *true* memorability schema
(regions that made people remember a scene), channel 1 the *false* schema (regions that made people
think they had seen a scene they had not).
"""

__version__ = "0.1.0"
