# Empty dependencies file for example_direct.
# This may be replaced when dependencies are built.
