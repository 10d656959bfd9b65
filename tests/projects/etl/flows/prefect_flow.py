"""A Prefect flow: it runs where Prefect is installed, and fails clearly where not."""

from prefect import flow


@flow(log_prints=True)
def hello(name: str) -> str:
    print(f"hello, {name}")
    return name
