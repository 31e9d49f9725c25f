"""The imaging loop without Devito: run documents and keys, the workflow's steps, the
update rules and the Batch jobs' bodies. Only `jobs.run_gradient_job` imports the
physics (`seisless.imaging`, hence Devito), and only when it runs."""
