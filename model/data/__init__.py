"""The dataset in memory and on disk: instances, images, masks and RLE, lossless COCO load/save (validated, atomic), recovery files and the prediction cache."""
