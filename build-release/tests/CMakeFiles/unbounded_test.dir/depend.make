# Empty dependencies file for unbounded_test.
# This may be replaced when dependencies are built.
