"""The contract between training and serving: what both sides must agree on, in one place.

`components` (the pipeline's steps) produce what `serving` (the server) consumes through this
package alone; neither imports the other (docs/architecture.md). It imports no TFX, so the
serving image pays for none of it.
"""
