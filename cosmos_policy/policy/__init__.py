"""The one model seam: a :class:`Policy` is a model backend plus transforms.

Every model kind (the compact WAM on torch, ONNX Runtime or TensorRT; Cosmos 3 through
diffusers) is served through the same pre- and post-processing steps, and every command
and the ROS 2 node resolve ``--model`` / ``--backend`` through :mod:`.registry`.
"""
