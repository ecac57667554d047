FROM python:3.11-slim
WORKDIR /srv/projekt
COPY pyproject.toml alembic.ini README.md ./
COPY src ./src
COPY migrations ./migrations
RUN pip install --no-cache-dir -e .
ENV PROJEKT_BASE_URL=http://localhost:8000
EXPOSE 8000
CMD ["projekt", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
