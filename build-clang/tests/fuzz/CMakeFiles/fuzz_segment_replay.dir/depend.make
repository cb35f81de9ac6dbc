# Empty dependencies file for fuzz_segment_replay.
# This may be replaced when dependencies are built.
