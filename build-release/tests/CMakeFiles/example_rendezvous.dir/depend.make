# Empty dependencies file for example_rendezvous.
# This may be replaced when dependencies are built.
