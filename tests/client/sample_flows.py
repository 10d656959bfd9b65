"""Functions that tests deploy with ``pushpool.deploy``."""


def nightly_etl(day: str = "today") -> str:
    """Load one day of data."""
    return day


class Holder:
    @staticmethod
    def nested() -> None:
        return None
