"""dlwp serve: TensorFlow Serving's REST and gRPC APIs over the pushed SavedModels.

`serving` reads only what the pipeline pushed (`<home>/serving/<model>/<version>/`) or a TF
Serving model config file; it never imports `pipelines`.
"""
