"""The formats MaskLoop ships, one module each (a family, such as COCO's, shares one).
Every module here registers its formats (registry.register) when imported; the
registry imports them all on first use, so a new module is a new format everywhere."""
