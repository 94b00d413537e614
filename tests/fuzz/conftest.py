"""tests/fuzz: the API fuzzer's package (api_fuzz) imports by name, wherever pytest roots."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
