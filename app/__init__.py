"""The Qt desktop application. Talks to model/ through plain Python objects."""
