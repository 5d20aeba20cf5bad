"""Building face datasets: from photos, folders and videos, and from FER2013 CSVs.

One module a job; the public names are exported by ``fer_toolkit.datasets``.

* ``pipeline``: ``extract_faces``, detect, filter, crop and index the faces of
  images and video frames;
* ``sources``: the files a run reads (sources expanded, crop names) and their frames;
* ``journal``: the write-ahead journal (index, settings, checkpoints) that makes
  reruns resume;
* ``progress``: the tqdm bars;
* ``output``: the output folder's names and index columns, and crop writing;
* ``fer_csv``: ``crop_fer2013``, re-cropping FER2013-format CSVs row by row.

``HaarVerifier``, the untrained ``verify`` filter, lives beside ``FaceVerifier``
in ``fer_toolkit.estimators``.
"""
