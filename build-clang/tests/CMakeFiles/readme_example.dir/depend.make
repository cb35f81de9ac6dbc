# Empty dependencies file for readme_example.
# This may be replaced when dependencies are built.
