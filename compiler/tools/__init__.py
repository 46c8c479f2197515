"""The older tool entry points, as OpenVINO's `openvino.tools` had them: `mo` (the Model
Optimizer: `mo.convert_model` and its command line `python -m compiler.tools.mo`)."""
