"""The pipeline factory, the task specs of the datasets, the runners and the `dlwp` CLI."""
