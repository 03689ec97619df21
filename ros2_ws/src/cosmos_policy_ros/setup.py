"""ament_python package of the cosmos-policy ROS 2 node (the library comes from the venv)."""

from glob import glob

from setuptools import setup

PACKAGE = "cosmos_policy_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[PACKAGE],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="cosmos-policy maintainers",
    description="ROS 2 lifecycle node serving a cosmos-policy world-action model",
    license="Apache-2.0",
    entry_points={"console_scripts": ["policy_node = cosmos_policy_ros.policy_node:main"]},
)
