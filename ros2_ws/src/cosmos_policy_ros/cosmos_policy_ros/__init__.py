"""ROS 2 shell of cosmos-policy: a thin lifecycle node over ``PolicyNodeCore``."""
