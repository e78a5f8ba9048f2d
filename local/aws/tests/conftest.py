"""Puts local/aws on sys.path, so the tests import `cib_local_aws` from any working directory."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
