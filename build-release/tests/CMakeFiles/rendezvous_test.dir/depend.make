# Empty dependencies file for rendezvous_test.
# This may be replaced when dependencies are built.
