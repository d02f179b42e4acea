"""The helpers every check under scripts/checks/ shares: the repository and its Kustomizations
(common), schemas and kinds (schemas), workload hardening (hardening), Crossplane composition
rendering (render_composition), and how Argo CD generates Applications and what an AppProject admits
(argocd), and each check's ending (common.finish). A check puts scripts/checks/ on sys.path first,
then imports `lib.<module>`."""
