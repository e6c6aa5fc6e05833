"""``python -m cluster.synthetic --seed 0 --out data/``: write the bundled train and validation files."""

from cluster.synthetic.generate import main

main()
