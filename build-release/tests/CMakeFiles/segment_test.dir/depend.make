# Empty dependencies file for segment_test.
# This may be replaced when dependencies are built.
