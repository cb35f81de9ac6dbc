# Empty dependencies file for stream_pipe_example.
# This may be replaced when dependencies are built.
