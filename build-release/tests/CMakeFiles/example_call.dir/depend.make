# Empty dependencies file for example_call.
# This may be replaced when dependencies are built.
