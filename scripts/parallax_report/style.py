"""Shared figure conventions: Agg back end, print-legible sizes, PNG + PDF + CSV per figure."""
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
                     "figure.dpi": 150, "savefig.bbox": "tight"})

COLORS = {"forward": "#4C72B0", "backward": "#DD8452", "send": "#8172B3", "tp_comm": "#55A868", "pp_comm": "#64B5CD",
          "recv": "#64B5CD", "dp_comm": "#C44E52", "optimizer": "#937860", "recompute": "#DA8BC3", "idle": "#CCCCCC"}


def save(fig, out_dir, name, header, rows):
    """Writes NAME.png, NAME.pdf and NAME.csv (the plotted numbers); returns the PNG's path."""
    png = os.path.join(out_dir, name + ".png")
    fig.savefig(png)
    fig.savefig(os.path.join(out_dir, name + ".pdf"))
    plt.close(fig)
    with open(os.path.join(out_dir, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return png
