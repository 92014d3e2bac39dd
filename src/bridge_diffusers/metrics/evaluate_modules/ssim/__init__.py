# Copyright 2026 The bridge-diffusers developers. Licensed under the Apache License, Version 2.0.
"""The ``ssim`` evaluate module; see ``ssim.py``."""
