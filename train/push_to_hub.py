"""`python -m train.push_to_hub MODEL.keras owner/repo [--private] [--token T]`: see `train.hub_push`."""

from train.hub_push import main

if __name__ == "__main__":
    main()
