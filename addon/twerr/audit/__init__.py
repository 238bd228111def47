"""The audit: `behaviour` judges what a client did after an error (pure rules), `audit` is the
component that feeds it flows and writes its findings."""
