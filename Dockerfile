# The qtenancy image: the emulator, the collector and the CLI (slo, alerts, dashboards).
FROM python:3.11-slim
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY common common
COPY contract contract
COPY emulator emulator
COPY collector collector
COPY slo slo
COPY alerts alerts
COPY dashboards dashboards
COPY qtenancy qtenancy
RUN pip install --no-cache-dir --no-deps .
ENTRYPOINT ["qtenancy"]
