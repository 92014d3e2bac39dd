# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The ``psnr`` evaluate module; see ``psnr.py``."""
