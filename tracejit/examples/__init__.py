"""Example models written as a user would write them; `tracejit demo` runs one. Their frames
count as user code, so captured graphs point at these files' lines."""
