"""The platform's part: you don't edit this.

MLflow tracking, lineage (pipeline runs, dataset inputs), the stored copies of the data, schema
validation, metrics, skops, selection, promotion and deployment. Each module holds one DAG step
or one piece of machinery; they call the project's own steps in `Data/`, `Process/` and
`Models/`, which take data frames in and give frames or estimators out and never see MLflow.
"""
