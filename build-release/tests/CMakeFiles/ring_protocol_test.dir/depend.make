# Empty dependencies file for ring_protocol_test.
# This may be replaced when dependencies are built.
