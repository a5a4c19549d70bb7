from qtenancy.cli import app

app(prog_name="qtenancy")
