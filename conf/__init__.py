"""BiasGRPO's config tree; biasgrpo/conf links here, so the package ships it as biasgrpo.conf (pkg://)."""
