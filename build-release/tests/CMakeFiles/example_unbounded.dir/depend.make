# Empty dependencies file for example_unbounded.
# This may be replaced when dependencies are built.
