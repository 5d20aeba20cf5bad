"""A sphinx-gallery image scraper for figures that pyplot does not manage.

fer_toolkit's plotting functions return :class:`matplotlib.figure.Figure` objects made
without pyplot (no global figure state, safe in threads and servers), so sphinx-gallery's
own matplotlib scraper, which asks pyplot for its open figures, never sees them. After each
code cell, this scraper saves every ``Figure`` bound to a top-level name of the example that
it has not shown yet, in the order the names were first assigned.
"""

from matplotlib.figure import Figure
from sphinx_gallery.scrapers import figure_rst


class FigureScraper:
    """Callable scraper: ``sphinx_gallery_conf["image_scrapers"] = (FigureScraper(),)``."""

    def __init__(self):
        self._shown = {}

    def __repr__(self):
        # sphinx-gallery compares configurations through repr: keep it stable between builds.
        return "FigureScraper()"

    def __call__(self, block, block_vars, gallery_conf):
        shown = self._shown.setdefault(block_vars["src_file"], set())
        figures = [
            value
            for value in list(block_vars["example_globals"].values())
            if isinstance(value, Figure) and id(value) not in shown
        ]
        paths = []
        for figure, path in zip(figures, block_vars["image_path_iterator"], strict=False):
            figure.savefig(path, dpi=100)
            shown.add(id(figure))
            paths.append(path)
        return figure_rst(paths, gallery_conf["src_dir"])
