# Empty dependencies file for example_owned.
# This may be replaced when dependencies are built.
