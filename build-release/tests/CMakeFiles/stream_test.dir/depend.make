# Empty dependencies file for stream_test.
# This may be replaced when dependencies are built.
